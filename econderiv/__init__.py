"""econderiv: econometric likelihood models with exact derivatives.

Every score and Hessian is derived by hand, checked numerically and plugged
into statsmodels.
"""

from econderiv import datasets, special, testing
from econderiv.models.heckman import Heckman
from econderiv.models.biprobit import BivariateProbit
from econderiv.models.heckprobit import HeckProbit
from econderiv.models.mnlogit import MNLogit
from econderiv.models.choicelogit import ChoiceLogit
from econderiv.models.derivreg import DerivativeRegression
from econderiv.models.derivsystem import DerivativeSystem
from econderiv.models.treatment import EndogenousTreatment
from econderiv.models.switching import SwitchingRegression

__version__ = "0.1.0.dev0"

__all__ = ["datasets", "special", "testing", "__version__", "Heckman", "BivariateProbit", "HeckProbit", "MNLogit", "ChoiceLogit", "DerivativeRegression", "DerivativeSystem", "EndogenousTreatment", "SwitchingRegression"]
