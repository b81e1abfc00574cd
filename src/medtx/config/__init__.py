"""Typed settings parsed from a Metaflow ``Config`` file (``configs/<env>.json``)."""
from medtx.config.settings import (
    MIN_MAX_LENGTH,
    DataSettings,
    LabelSettings,
    SplitSettings,
    ModelSettings,
    TrainSettings,
    ComputeSettings,
    GateSettings,
    RegistrySettings,
    AwsSettings,
    Settings,
    parse_settings,
    parse_config,
    load_settings,
    settings_from,
)

__all__ = ["MIN_MAX_LENGTH", 'DataSettings', 'LabelSettings', 'SplitSettings', 'ModelSettings', 'TrainSettings', 'ComputeSettings', 'GateSettings', 'RegistrySettings', 'AwsSettings', 'Settings', 'parse_settings', 'parse_config', 'load_settings', 'settings_from']
