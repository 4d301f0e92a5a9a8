"""``python -m xpnet.torch_compat script.py args...``: run a PyTorch script on xpnet."""
import sys

from .runner import main

sys.exit(main())
