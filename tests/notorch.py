"""Python source that makes torch, torchvision and open_clip unimportable in a child process,
as on a machine (or in an installer) without them. Prepend it to the child's code."""

BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "open_clip"):
            raise ImportError(f"{name} is not installed (test)")
sys.meta_path.insert(0, NoTorch())
"""
