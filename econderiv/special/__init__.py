"""Special functions: normal tails and the bivariate normal distribution.

Pure, vectorised array functions in the style of :mod:`scipy.special`:
they broadcast their arguments, NaN in gives NaN out and out-of-domain
arguments give NaN.
"""

from econderiv.special.normal import mills_ratio, mills_ratio_deriv

__all__ = ["mills_ratio", "mills_ratio_deriv"]
