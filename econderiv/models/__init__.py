"""Model families: statsmodels adapters around exact derivative kernels."""

from econderiv.models.mnlogit import MNLogit  # noqa: F401
from econderiv.models.derivreg import DerivativeRegression  # noqa: F401
from econderiv.models.derivsystem import DerivativeSystem  # noqa: F401
from econderiv.models.choicelogit import ChoiceLogit  # noqa: F401
