"""Typed settings parsed from a Metaflow ``Config`` file (``configs/<env>.json``, merged over
the file its ``extends`` names) with a run's ``--set`` overrides."""
from medtx.config.loader import load_config_dict, merge
from medtx.config.operations import (
    DeploySettings,
    DeployStageSettings,
    HandoffTarget,
    MonitorSettings,
    ServingSettings,
)
from medtx.config.overrides import apply_overrides, parse_overrides
from medtx.config.parse import load_settings, parse_config, parse_settings, settings_from
from medtx.config.settings import (
    AccountSettings,
    AwsSettings,
    BaselineSettings,
    ComputeSettings,
    DataSettings,
    GateSettings,
    LabelSettings,
    ModelSettings,
    ProjectSettings,
    RegistrySettings,
    Settings,
    SplitSettings,
    TrainSettings,
)
from medtx.config.validation import MIN_MAX_LENGTH

__all__ = [
    "MIN_MAX_LENGTH", "DataSettings", "LabelSettings", "SplitSettings", "ModelSettings",
    "TrainSettings", "BaselineSettings", "ComputeSettings", "GateSettings", "RegistrySettings",
    "AccountSettings", "AwsSettings", "ServingSettings", "DeploySettings", "DeployStageSettings", "HandoffTarget",
    "MonitorSettings", "ProjectSettings", "Settings", "parse_settings", "parse_config",
    "load_settings", "settings_from", "load_config_dict", "merge", "parse_overrides",
    "apply_overrides",
]
