"""Policy as code: rules and exceptions in YAML, one evaluator for CLI, build and controller."""

from hardbase.policy.check import PolicyReport, check_image
from hardbase.policy.model import Policy, load_policy, parse_policy

__all__ = ["Policy", "PolicyReport", "check_image", "load_policy", "parse_policy"]
