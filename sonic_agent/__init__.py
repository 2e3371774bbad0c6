"""telegen-sonic: one telemetry agent for SONiC switches."""

__version__ = "0.1.0"
