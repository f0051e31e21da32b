"""Configuration for LIVE_TRADING: the packaged defaults file and its loader."""

from CONFIG.config_loader import ConfigError, config_path, get_cfg, load_config, reload_config

__all__ = ["ConfigError", "config_path", "get_cfg", "load_config", "reload_config"]
