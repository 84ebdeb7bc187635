"""A stylesheet that remembers which rules it applied to a node like this one.

Textual matches every CSS rule that might apply against a widget's whole path, each time a
widget is mounted, and once more for each of its component classes (a markdown paragraph has
four: em, strong, s, code_inline). With our stylesheet, that is about 1 ms a markdown block:
a third of the CPU of drawing a reply that arrives at once, and most of a session's start.
Blocks come in a few kinds at a few places, so the answer is remembered: keyed by everything
the candidate rules can look at along the path (each node's type, classes, id and the state of
the pseudo-classes those rules name), and by the candidate rules themselves. A widget class
mounted for the first time adds its default CSS, and Textual parses the rules again; the
rules of unchanged sources are the same objects (Textual caches each source's parse), so an
answer stays good as long as its node's candidates are still the rules in force. (Forgetting
everything at each new class made the first long reply of a session style its blocks three
times over: 96 misses, 33 ms, in a 20k-token reply.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.css.model import SelectorType
from textual.css.stylesheet import Stylesheet
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.css.model import RuleSet
    from textual.css.styles import RenderStyles, RulesMap
    from textual.dom import DOMNode

_APP_WIDE = frozenset({"dark", "light", "inline", "ansi", "nocolor"})
"""Pseudo-classes a widget answers from the app alone."""

_DISABLED = frozenset({"disabled", "enabled"})

_ORDER = frozenset({"first-of-type", "last-of-type", "first-child", "last-child", "empty"})

MEMO_LIMIT = 4096
"""Paths remembered at most (then forgotten at once): a few dozen in practice."""

_Candidates = tuple[tuple[str, ...], bool, bool, bool, bool, tuple[int, ...]]
"""The pseudo-classes the candidate rules name, the node flags Textual derives from them (has
hover style, has focus-within, has order style, has odd or even), and the candidate rules'
ids in Textual's order."""


class MemoStylesheet(Stylesheet):
    """`Stylesheet` whose `apply` reuses the rules it found for an identical path."""

    def __init__(self, *, variables: dict[str, str] | None = None) -> None:
        super().__init__(variables=variables)
        self._memo_rules: list[RuleSet] | None = None
        self._ids: frozenset[str] = frozenset()
        self._candidates: dict[frozenset[str], _Candidates] = {}
        # Both memos are keyed by (candidate rule ids, ...): `_held` keeps those rules alive,
        # so an id is never reused by another rule while an answer mentions it.
        self._held: dict[int, RuleSet] = {}
        self._position: dict[int, int] = {}  # a rule's place in the rules, by id
        self._applied: dict[tuple[Any, ...], RulesMap | None] = {}
        self._component_candidates: dict[frozenset[str], tuple[tuple[str, ...], tuple[int, ...]]]
        self._component_candidates = {}
        self._components: dict[tuple[Any, ...], dict[str, RenderStyles]] = {}

    def copy(self) -> MemoStylesheet:
        stylesheet = MemoStylesheet(variables=self._variables.copy())
        stylesheet.source = self.source.copy()
        return stylesheet

    def _fresh(self) -> None:
        """When the rules were parsed again, forget the answers that used a rule no longer
        in force (a new theme's rules are all new: then that is every answer)."""
        rules = self.rules
        if rules is self._memo_rules:
            return
        self._memo_rules = rules
        self._ids = frozenset(
            selector.name
            for rule in rules
            for selector_set in rule.selector_set
            for selector in selector_set.selectors
            if selector.type == SelectorType.ID
        )
        self._candidates.clear()
        self._component_candidates.clear()
        self._position = {id(rule): index for index, rule in enumerate(rules)}
        live = self._position.keys()
        for memo in (self._applied, self._components):
            for key in [key for key in memo if not all(rule in live for rule in key[0])]:
                del memo[key]
        self._held = {key: rule for key, rule in self._held.items() if key in live}

    def _candidates_for(self, names: frozenset[str]) -> _Candidates:
        found = self._candidates.get(names)
        if found is None:
            rules_map = self.rules_map
            position = self._position
            limit = {
                id(rule): rule for name in rules_map.keys() & names for rule in rules_map[name]
            }
            candidates = sorted(limit.values(), key=lambda rule: -position[id(rule)])
            pseudo: set[str] = set().union(*(rule.pseudo_classes for rule in candidates))
            for rule in candidates:
                self._held[id(rule)] = rule
            found = (
                tuple(sorted(pseudo)),
                "hover" in pseudo,
                "focus-within" in pseudo,
                not pseudo.isdisjoint(_ORDER),
                "odd" in pseudo or "even" in pseudo,
                tuple(id(rule) for rule in candidates),
            )
            self._candidates[names] = found
        return found

    def _key(self, node: DOMNode, pseudo: tuple[str, ...]) -> tuple[Any, ...]:
        """Everything the candidate rules can test along the path from the app to `node`.

        Asked per node, `disabled` walks up to the app and `dark` looks the theme up: here
        the first is carried down the path and the app-wide ones are asked once."""
        ids = self._ids
        path = node.css_path_nodes
        shared = {name: path[-1].has_pseudo_class(name) for name in pseudo if name in _APP_WIDE}
        disabled = False
        key = []
        for path_node in path:
            if isinstance(path_node, Widget):
                disabled = disabled or path_node.disabled
                states = tuple(
                    shared[name]
                    if name in shared
                    else (disabled if name == "disabled" else not disabled)
                    if name in _DISABLED
                    else path_node.has_pseudo_class(name)
                    for name in pseudo
                )
            else:
                states = tuple(path_node.has_pseudo_class(name) for name in pseudo)
            key.append(
                (
                    type(path_node),
                    path_node._id if path_node._id in ids else None,
                    frozenset(path_node._classes),
                    states,
                )
            )
        return tuple(key)

    def apply(
        self,
        node: DOMNode,
        *,
        animate: bool = False,
        cache: dict[tuple[Any, ...], RulesMap] | None = None,
    ) -> None:
        self._fresh()
        candidates = self._candidates_for(frozenset(node._selector_names))
        key = (candidates[5], *self._key(node, candidates[0]))
        if key in self._applied:
            rules = self._applied[key]
            (
                _,
                node._has_hover_style,
                node._has_focus_within,
                node._has_order_style,
                node._has_odd_or_even,
                _,
            ) = candidates
            if rules is not None:
                self.replace_rules(node, rules.copy() if animate else rules, animate=animate)
            self._process_component_classes(node)
            return
        # Textual fills `cache` with what it applied, whenever the node could be cached by
        # its parent; our key holds more than that (the whole path), so it always can.
        found: dict[tuple[Any, ...], RulesMap] = {}
        super().apply(node, animate=animate, cache=found)
        if len(self._applied) >= MEMO_LIMIT:
            self._applied.clear()
        if len(found) == 1:
            self._applied[key] = next(iter(found.values()))
        elif not found and not node.styles.base._rules:
            self._applied[key] = None  # no rule applies

    def _process_component_classes(self, node: DOMNode) -> None:
        """Textual styles each component class through a throwaway node attached to
        `node`; the styles it got are shared by every node on an identical path."""
        components = node._get_component_classes()
        if not components:
            return
        self._fresh()
        found = self._component_candidates.get(components)
        if found is None:
            names: set[str] = set()
            rule_ids: list[int] = []
            for component in sorted(components):
                candidates = self._candidates_for(frozenset({"*", "DOMNode", f".{component}"}))
                names.update(candidates[0])
                rule_ids.extend(candidates[5])
            found = self._component_candidates[components] = (tuple(sorted(names)), tuple(rule_ids))
        pseudo, rule_ids_key = found
        key = (rule_ids_key, components, *self._key(node, pseudo))
        styles = self._components.get(key)
        if styles is None:
            super()._process_component_classes(node)
            if len(self._components) >= MEMO_LIMIT:
                self._components.clear()
            self._components[key] = dict(node._component_styles)
            return
        old = node._component_styles.copy()
        node._component_styles.clear()
        node._component_styles.update(styles)
        if any(old.get(name) is not style for name, style in styles.items()):
            node.refresh()
