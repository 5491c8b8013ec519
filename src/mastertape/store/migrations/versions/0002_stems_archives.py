"""Stems and archives: stem_splits, stems, archives; stem_id on upscaled and mastered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _artifact_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), sa.ForeignKey("api_keys.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("blob_key", sa.String(300), nullable=True),
        sa.Column("download_count", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    ]


def upgrade() -> None:
    op.create_table(
        "stem_splits",
        *_artifact_columns(),
        sa.Column("audio_id", sa.String(36), sa.ForeignKey("assets.id"), nullable=False, index=True),
        sa.Column("preset", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("bit_depth", sa.Integer(), nullable=False),
    )
    op.create_table(
        "stems",
        *_artifact_columns(),
        sa.Column("audio_id", sa.String(36), sa.ForeignKey("assets.id"), nullable=False, index=True),
        sa.Column("split_id", sa.String(36), sa.ForeignKey("stem_splits.id"), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "archives",
        *_artifact_columns(),
        sa.Column("audio_id", sa.String(36), sa.ForeignKey("assets.id"), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
    )
    for table in ("upscaled", "mastered"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("stem_id", sa.String(36), nullable=True))
            batch.create_index(f"ix_{table}_stem_id", ["stem_id"])
            batch.create_foreign_key(f"fk_{table}_stem_id_stems", "stems", ["stem_id"], ["id"])


def downgrade() -> None:
    for table in ("mastered", "upscaled"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_stem_id_stems", type_="foreignkey")
            batch.drop_index(f"ix_{table}_stem_id")
            batch.drop_column("stem_id")
    op.drop_table("archives")
    op.drop_table("stems")
    op.drop_table("stem_splits")
