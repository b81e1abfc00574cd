"""Typed settings parsed from a Metaflow ``Config`` file (``configs/<env>.json``)."""
from medtx.config.parse import load_settings, parse_config, parse_settings, settings_from
from medtx.config.settings import (
    AccountSettings,
    AwsSettings,
    BaselineSettings,
    ComputeSettings,
    DataSettings,
    DeploySettings,
    DeployStageSettings,
    GateSettings,
    LabelSettings,
    ModelSettings,
    MonitorSettings,
    ProjectSettings,
    RegistrySettings,
    ServingSettings,
    Settings,
    SplitSettings,
    TrainSettings,
)
from medtx.config.validation import MIN_MAX_LENGTH

__all__ = [
    "MIN_MAX_LENGTH", "DataSettings", "LabelSettings", "SplitSettings", "ModelSettings",
    "TrainSettings", "BaselineSettings", "ComputeSettings", "GateSettings", "RegistrySettings",
    "AccountSettings", "AwsSettings", "ServingSettings", "DeploySettings", "DeployStageSettings", "MonitorSettings", "ProjectSettings", "Settings", "parse_settings", "parse_config",
    "load_settings", "settings_from",
]
