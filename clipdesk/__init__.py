"""ClipDesk: find photos by what they show."""

import os

__version__ = "0.1.0"

# torch's OpenMP threads spin while they wait for work by default. ClipDesk runs the model
# next to photo-decoding threads (and the GUI), so a spinning thread steals the core a decode
# thread or its partner needs: on 2 cores that costs up to a third of indexing speed. Set here,
# before anything can import torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
