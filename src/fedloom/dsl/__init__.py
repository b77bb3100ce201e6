"""FATE-compatible DSL v2: job conf and dsl parsing, validation before run, predict-DSL derivation.

Typical use::

    from fedloom.dsl import load_job
    job = load_job("conf.json", "dsl.json")        # raises ConfigError naming component and field
    for name in job.order:
        for role in job.roles_for(name):
            params = job.params_for(name, role, 0)

Modules are registered by the components layer (:func:`register_module`); this package registers
none. It imports only :mod:`fedloom.core`.
"""

from fedloom.dsl.conf import JobConf, load_json, parse_party_key
from fedloom.dsl.graph import ComponentDef, Dsl, Ref
from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl
from fedloom.dsl.registry import REGISTRY, AnyParams, ModuleRegistry, ModuleSpec, register_module
from fedloom.dsl.validate import Job, JobValidationError, load_job, merge_params

__all__ = [
    "REGISTRY",
    "AnyParams",
    "ComponentDef",
    "Dsl",
    "Job",
    "JobConf",
    "JobValidationError",
    "ModuleRegistry",
    "ModuleSpec",
    "Ref",
    "derive_predict_conf",
    "derive_predict_dsl",
    "load_job",
    "load_json",
    "merge_params",
    "parse_party_key",
    "register_module",
]
