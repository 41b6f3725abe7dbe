"""Special functions: normal tails and the bivariate normal distribution.

Pure, vectorised array functions in the style of :mod:`scipy.special`:
they broadcast their arguments, NaN in gives NaN out and out-of-domain
arguments give NaN.
"""

from econderiv.special.bvn import (bvn_cdf, bvn_cdf_grad, bvn_cdf_hess, bvn_logcdf,
                                   bvn_logcdf_grad, bvn_logcdf_hess, bvn_pdf)
from econderiv.special.normal import mills_ratio, mills_ratio_deriv

__all__ = ["mills_ratio", "mills_ratio_deriv", "bvn_cdf", "bvn_logcdf", "bvn_pdf",
           "bvn_cdf_grad", "bvn_cdf_hess", "bvn_logcdf_grad", "bvn_logcdf_hess"]
