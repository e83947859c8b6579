"""Triage flows: YAML files validated into versioned flows, and a pure engine that runs them.

Import the pieces from their modules: ``models`` (file format), ``loader``
(registry, reload, watch), ``check`` (problems), ``engine`` (FlowEngine).
"""
