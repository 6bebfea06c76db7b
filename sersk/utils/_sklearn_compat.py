"""The one place where sersk imports private helpers of scikit-learn.

scikit-learn moves or renames some of these between releases; keeping every
import here means a new release breaks one file, not the whole package.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Integral",
    "Interval",
    "Options",
    "Real",
    "StrOptions",
    "_check_feature_names_in",
    "_fit_context",
    "_routing_enabled",
    "check_is_fitted",
    "validate_data",
    "validate_params",
]
