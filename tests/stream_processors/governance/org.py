"""A small organisation: 3 teams, 5 applications (1 unregistered), 4 models (1 unapproved, 1 restricted).

Shared by the unit tests and the end-to-end test through the real pipeline.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from meterstream.stream_processors.governance.budgets import Budget
from meterstream.stream_processors.governance.inventory import InventoryItem

SAMPLE_POLICY = (Path(__file__).resolve().parents[3] / "stream_processors" / "governance"
                 / "sample_policy.yaml").read_text()
TEAMS = ("support", "research", "finance")


def models() -> list[InventoryItem]:
    return [
        InventoryItem("model", "gpt-4o", provider="openai", family="gpt-4o", status="approved",
                      certification="SOC2-2026", model_card="https://example.com/gpt-4o", changed_by="cto"),
        InventoryItem("model", "llama-3", provider="self-hosted", family="llama", status="approved",
                      lineage="public web, filtered", changed_by="cto"),
        InventoryItem("model", "claude-x", provider="anthropic", family="claude", status="restricted",
                      changed_by="risk-office", change_note="internal productivity only"),
        InventoryItem("model", "mystery-7b", provider="self-hosted", family="mystery", status="proposed",
                      changed_by="research-lead"),
    ]


def use_cases() -> list[InventoryItem]:
    """Four registered applications; ``shadow-app`` (team research) is the unregistered fifth."""
    return [
        InventoryItem("use_case", "support-bot", owner_team="support", accountable="ana", category="customer_facing",
                      purpose="answer customers", environment="prod", data_categories=("customer",),
                      sensitivity="confidential", allowed_models=("gpt-4o",), status="approved", changed_by="cto"),
        InventoryItem("use_case", "code-assist", owner_team="research", accountable="raj",
                      category="internal_productivity", environment="prod", sensitivity="internal",
                      status="approved", changed_by="cto"),
        InventoryItem("use_case", "claims-triage", owner_team="finance", accountable="fay",
                      category="customer_decision", environment="prod", data_categories=("customer", "pii"),
                      sensitivity="restricted", controls=("human_review",), status="approved", changed_by="cto"),
        InventoryItem("use_case", "notes-summary", owner_team="finance", accountable="fay",
                      category="internal_productivity", environment="dev", sensitivity="regulated",
                      controls=("prompt_logging",), status="approved", changed_by="cto"),
    ]


# Unit prices in USD per token: large, so that budgets are crossed with few events.
PRICES_CSV = ("model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from\n"
              "gpt-4o,*,input_tokens,0.01,USD,2020-01-01,,0\n"
              "llama-3,*,input_tokens,0.001,USD,2020-01-01,,0\n")


def budgets(month: str, support_team: str = "support") -> list[Budget]:
    return [Budget("team", support_team, month, Decimal(100), "USD", (80, 100)),
            Budget("use_case", "code-assist", month, Decimal(1000), "USD", (80, 100))]
