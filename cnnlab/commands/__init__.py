"""The CLI's commands, one module each; cnnlab.cli registers them."""
