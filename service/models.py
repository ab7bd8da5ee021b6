"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from service.db import Base
from service.issues.models import CompiledIssue

metadata = Base.metadata

__all__ = ["Base", "CompiledIssue", "metadata"]
