"""Intelligent document processing: the six ``doc/*`` operations over an LLM backend."""

from ossdoc.services.docs.generation import Generation, Progress
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args, DocRequest, Limits, Operation, Parameter, Registry
from ossdoc.services.docs.service import DocumentService

__all__ = [
    "OPERATIONS",
    "Args",
    "DocRequest",
    "DocumentService",
    "Generation",
    "Limits",
    "Operation",
    "Parameter",
    "Progress",
    "Registry",
]
