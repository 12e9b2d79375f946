"""Task stores: where asynchronous document tasks are kept between submission and their end."""

from ossdoc.backends.tasks.base import FINISHED, State, TaskRecord, TaskStore
from ossdoc.backends.tasks.memory import MemoryTaskStore
from ossdoc.backends.tasks.sqlite import SQLiteTaskStore

__all__ = ["FINISHED", "MemoryTaskStore", "SQLiteTaskStore", "State", "TaskRecord", "TaskStore"]
