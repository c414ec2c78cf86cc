"""Layer arithmetic without torch: the layer IR, every layer rule, sizes, receptive fields, params
and MACs; the model of a spec as a plan; the ad-hoc layer syntax and the single-layer calculator;
tables and text formats of the results.

Torch-free. May import: cnnlab.spec, cnnlab.util, cnnlab.errors, cnnlab.registry (and, inside
functions only, cnnlab.data.resolve to learn a dataset's input shape).
"""
