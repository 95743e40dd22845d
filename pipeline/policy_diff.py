"""How the policy changed since the baseline, and which loosenings an approval covers. Pure: no I/O.

Each rule is compared in the direction its setting declares (``pipeline.policy``). A rule
the baseline had and this run lacks counts as loosened; a value the gate cannot order
counts as loosened too (the safe side). A new or extended waiver is listed but needs no
approval: it names its own owner, reason and expiry. A loosening is approved only by an
``approvals`` record naming the same setting that has not expired on the verdict's day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

# A k6-style bound: aggregate, comparison, number ("p(95)<200", "rate<0.001", "count>=10").
_BOUND = re.compile(r"^\s*(?P<what>[^<>=!]+?)\s*(?P<op><=|<|>=|>)\s*(?P<limit>-?[0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Approval:
    """Who approved loosening which setting, why, and until when (config ``approvals``)."""

    setting: str
    approver: str
    reason: str
    expires: dt.date

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        """From the config (or a recorded policy); ``expires`` as YYYY-MM-DD."""
        return cls(str(data["setting"]), str(data["approver"]), str(data["reason"]),
                   dt.date.fromisoformat(str(data["expires"])))

    def covers(self, key: str) -> bool:
        """The rule itself, or one below it (``explain.queries`` covers ``explain.queries[q].max_ms``)."""
        return key == self.setting or key.startswith((f"{self.setting}.", f"{self.setting}["))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"setting": self.setting, "approver": self.approver, "reason": self.reason,
                "expires": self.expires.isoformat()}


@dataclass(frozen=True)
class Change:
    """One difference between the baseline's policy and this run's."""

    key: str
    kind: str  # loosened | tightened | added | waiver added | waiver extended | waiver removed
    before: Any
    after: Any
    detail: str = ""
    source: str = ""
    approved_by: Approval | None = None
    expired_approval: Approval | None = None

    @property
    def loosening(self) -> bool:
        """Whether this change makes the gate easier to pass (and so needs an approval)."""
        return self.kind == "loosened"

    @property
    def unapproved(self) -> bool:
        """A loosening that no valid approval covers: the verdict cannot be ready."""
        return self.loosening and self.approved_by is None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"key": self.key, "kind": self.kind, "before": self.before, "after": self.after,
                "detail": self.detail, "source": self.source, "needs_approval": self.loosening,
                "approved_by": self.approved_by.to_dict() if self.approved_by else None,
                "expired_approval": self.expired_approval.to_dict() if self.expired_approval else None}

    def sentence(self) -> str:
        """One line for the verdict's reasons."""
        where = f" (set in {self.source})" if self.source else ""
        what = f"{self.key} was {self.kind}: {self.detail}{where}"
        if self.approved_by:
            return f"{what}; approved by {self.approved_by.approver} until {self.approved_by.expires}."
        if self.expired_approval:
            return f"{what}; its approval by {self.expired_approval.approver} expired on " \
                   f"{self.expired_approval.expires}."
        return what + "."


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every change of rule and waiver from policy ``before`` (the baseline's) to ``after``."""
    old, new = before.get("rules") or {}, after.get("rules") or {}
    changes = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if now is None:
            changes.append(Change(key, "loosened", _value(was), None, "the rule is gone", ""))
        elif was is None:
            changes.append(Change(key, "added", None, now.get("value"), "a new rule", now.get("source", "")))
        elif was.get("value") != now.get("value"):
            kind, detail = compare(now, was.get("value"), now.get("value"))
            changes.append(Change(key, kind, was.get("value"), now.get("value"), detail, now.get("source", "")))
    return changes + _waiver_changes(before.get("waivers") or [], after.get("waivers") or [])


def _value(rule: Any) -> Any:
    return rule.get("value") if isinstance(rule, dict) else None


def compare(rule: dict[str, Any], before: Any, after: Any) -> tuple[str, str]:
    """``loosened`` or ``tightened`` (with what changed), in the direction ``rule`` declares."""
    stricter = rule.get("stricter")
    if stricter in ("more", "fewer"):
        return _compare_sets(before, after, stricter == "fewer", rule.get("items") == "bound")
    if stricter in ("true", "false"):
        tighter = after is (stricter == "true")
        return ("tightened" if tighter else "loosened"), f"{before} -> {after}"
    old, new = _rank(before, rule.get("scale")), _rank(after, rule.get("scale"))
    detail = f"{_shown(before)} -> {_shown(after)}"
    if (new is None and after is not None) or (old is None and before is not None) \
            or stricter not in ("higher", "lower"):
        return "loosened", detail + " (cannot be ordered; counted as a loosening)"
    if new is None:
        return "loosened", detail  # the rule was turned off
    if old is None:
        return "tightened", detail  # the rule was turned on
    looser = new < old if stricter == "higher" else new > old
    return ("loosened" if looser else "tightened"), detail


def _rank(value: Any, scale: Any) -> float | None:
    """A rule's value as a number to order by; None: the rule is off (the loosest)."""
    if value is None:
        return None
    if isinstance(scale, list):
        return float(scale.index(value)) if value in scale else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _shown(value: Any) -> str:
    return "off" if value is None else str(value)


def _compare_sets(before: Any, after: Any, growth_loosens: bool, bounds: bool) -> tuple[str, str]:
    old, new = set(before or ()), set(after or ())
    removed, added = sorted(old - new), sorted(new - old)
    lost = added if growth_loosens else removed
    gained = removed if growth_loosens else added
    if bounds:
        lost = [b for b in lost if not any(_as_strict(a, b) for a in gained)]
    detail = "; ".join(p for p in (f"removed {', '.join(removed)}" if removed else "",
                                   f"added {', '.join(added)}" if added else "") if p)
    return ("loosened" if lost else "tightened"), detail


def _as_strict(new: str, old: str) -> bool:
    """Whether bound ``new`` is at least as strict as ``old`` (same aggregate and comparison)."""
    a, b = _BOUND.match(new), _BOUND.match(old)
    if not a or not b or a["what"] != b["what"] or a["op"] != b["op"]:
        return False
    limit_new, limit_old = float(a["limit"]), float(b["limit"])
    return limit_new <= limit_old if a["op"].startswith("<") else limit_new >= limit_old


def _waiver_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Change]:
    def ident(w: dict[str, Any]) -> str:
        return f"waiver {w.get('check')}:{w.get('id')}" + (f" at {w['url']}" if w.get("url") else "")

    old = {ident(w): w for w in before if isinstance(w, dict)}
    new = {ident(w): w for w in after if isinstance(w, dict)}
    changes = [Change(k, "waiver added", None, new[k].get("expires"),
                      f"owner {new[k].get('owner')}, until {new[k].get('expires')}: {new[k].get('reason')}")
               for k in sorted(set(new) - set(old))]
    changes += [Change(k, "waiver extended", old[k].get("expires"), new[k].get("expires"),
                       f"until {old[k].get('expires')} -> {new[k].get('expires')}")
                for k in sorted(set(new) & set(old)) if str(new[k].get("expires")) > str(old[k].get("expires"))]
    changes += [Change(k, "waiver removed", old[k].get("expires"), None, "no longer waived")
                for k in sorted(set(old) - set(new))]
    return changes


def approve(changes: list[Change], approvals: list[Approval], day: dt.date) -> list[Change]:
    """``changes`` with each loosening matched to an approval of its setting valid on ``day``."""
    judged = []
    for change in changes:
        if not change.loosening:
            judged.append(change)
            continue
        mine = [a for a in approvals if a.covers(change.key)]
        valid = next((a for a in mine if day <= a.expires), None)
        expired = None if valid else next(iter(mine), None)
        judged.append(replace(change, approved_by=valid, expired_approval=expired))
    return judged


def approvals_in(policy: dict[str, Any]) -> list[Approval]:
    """The approvals a recorded policy holds (malformed entries count for nothing)."""
    found = []
    for entry in policy.get("approvals") or []:
        try:
            found.append(Approval.from_dict(entry))
        except (KeyError, ValueError, TypeError):
            continue
    return found
