"""The nnfs book's classes after ``nnfs.init()``, written for handgrad's tests: the nnfs
package replaces ``np.dot`` at import with one that computes in float64 and returns
float32 (its "dot precision workaround"), done here by hand, as the package may not be
installed. The classes are the correct ones: only float32 can be right under it.
"""

import numpy as np

from nnfs_classes import *

_numpy_dot = np.dot


def _dot(*args, **kwargs):
    return _numpy_dot(*[a.astype("float64") for a in args], **kwargs).astype("float32")


np.dot = _dot
