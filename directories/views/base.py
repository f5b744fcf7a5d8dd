"""What the directory pages share: the tab context and the list editor."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest

from connectors.models import Connector
from console.api import as_id
from directories import failover
from directories.models import Directory


def directory_context(directory: Directory, tab: str, **extra) -> dict:
    """What every tab of a directory page needs: the tabs shown depend on rules S5/S6."""
    return {
        "directory": directory,
        "tab": tab,
        "nav": "directories",
        "feature": failover.sync_connectors_feature(),
        **extra,
    }


@dataclass
class WorkingList:
    """A list of connectors edited in the form and stored only on Save."""

    ids: list[int]
    error: str = ""
    notice: str = ""
    connectors: list[Connector] = field(default_factory=list)
    # What the last edit did, in words for the page's live region, and which control keeps
    # the keyboard focus: "up:<id>", "down:<id>", "remove:<id>", "name:<id>", "picker", "save".
    announcement: str = ""
    focus: str = ""
    edit: tuple[str, int, str] | None = None

    @classmethod
    def from_post(cls, request: HttpRequest) -> WorkingList:
        ids: list[int] = []
        for raw in request.POST.getlist("connector"):
            cid = as_id(raw)
            if cid is not None:
                ids.append(cid)
        return cls(ids)

    def load(self) -> WorkingList:
        found = Connector.objects.in_bulk(self.ids)
        if any(cid not in found for cid in self.ids):
            self.notice = "A connector in the list no longer exists and was left out."
        self.ids = [cid for cid in self.ids if cid in found]
        self.connectors = [found[cid] for cid in self.ids]
        return self

    def apply(self, action: str, selected: str, duplicate_message: str) -> bool:
        """Change the list for add/up/down/remove; False (with `error`) when refused."""
        verb, _, arg = action.partition(":")
        if verb == "add":
            try:
                connector = Connector.objects.get(pk=int(selected))
            except (ValueError, Connector.DoesNotExist):
                self.error = "Select a connector to add."
                return False
            if connector.pk in self.ids:
                self.error = duplicate_message.format(name=connector.name)
                return False
            self.ids.append(connector.pk)
            self.edit = ("add", connector.pk, connector.name)
            return True
        try:
            index = int(arg)
        except ValueError:
            index = -1
        if not 0 <= index < len(self.ids):
            self.error = "That entry is no longer in the list; the list is shown as it is now."
            return False
        cid = self.ids[index]
        if verb == "remove":
            name = Connector.objects.filter(pk=cid).values_list("name", flat=True).first()
            self.edit = ("remove", index, name or "The connector")
            del self.ids[index]
        elif verb == "up" and index > 0:
            self.ids[index - 1], self.ids[index] = self.ids[index], self.ids[index - 1]
        elif verb == "down" and index < len(self.ids) - 1:
            self.ids[index + 1], self.ids[index] = self.ids[index], self.ids[index + 1]
        elif verb not in ("up", "down"):
            self.error = "Unknown action."
            return False
        if verb in ("up", "down"):
            self.edit = (verb, cid, "")
        return True

    def describe(self, where: str, arrows: bool = True) -> WorkingList:
        """Words and focus for the edit `apply` made, once `load` has the connectors.

        `where` ends the sentence after a removal ("in the list"); `arrows` says whether the
        rows have move buttons.
        """
        if self.error:
            self.focus = "picker"
            return self
        if self.edit is None:
            return self
        verb, key, name = self.edit
        count = len(self.ids)
        if verb == "remove":
            noun = "connector" if count == 1 else "connectors"
            self.announcement = f"{name} removed; {count} {noun} {where}."
            # The row that took its place, or the picker when it was the last row.
            self.focus = f"remove:{self.ids[key]}" if key < count else "picker"
            return self
        if key not in self.ids:
            return self
        position = self.ids.index(key) + 1
        name = next(c.name for c in self.connectors if c.pk == key)
        if verb == "add":
            self.announcement = f"{name} added at position {position}."
            self.focus = f"up:{key}" if arrows and count > 1 else f"name:{key}"
            return self
        self.announcement = f"{name} moved to position {position} of {count}."
        # The same arrow, unless the row reached the end where that arrow is disabled.
        if count == 1:
            self.focus = f"name:{key}"
        elif verb == "up":
            self.focus = f"up:{key}" if position > 1 else f"down:{key}"
        else:
            self.focus = f"down:{key}" if position < count else f"up:{key}"
        return self
