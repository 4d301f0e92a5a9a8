"""The PyTorch-style scripts under scripts/ are programs run by test_scripts.py in a
subprocess (``import torch`` there is xpnet through the runner, or the real PyTorch), never
modules for pytest to import: --doctest-modules would run their argument parsing."""
collect_ignore = ["scripts"]
