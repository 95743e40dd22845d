"""Readiness gate for backend services: checks in order, one verdict, reports to sign off."""

__version__ = "0.1.0"
