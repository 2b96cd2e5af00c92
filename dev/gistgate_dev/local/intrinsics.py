"""Resolve the CloudFormation intrinsics ``template.yaml`` uses, offline.

The local stack derives each function's environment from the template with it
(so a variable added there reaches ``make dev`` unchanged), and the template
tests evaluate outputs and conditions with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REGION = "us-east-1"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "gistgate",
}
NO_VALUE = object()


class Evaluator:
    """Resolves the intrinsics our template uses, for given parameter values.

    Resources resolve to ``refs[name]`` (e.g. the API id) or ``<Name>``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        refs: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.params = {
            name: str(spec.get("Default", ""))
            for name, spec in (template.get("Parameters") or {}).items()
        }
        self.params.update(parameters or {})
        self.params.update(PSEUDO)
        self.refs = dict(refs or {})

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def _ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        return self.refs.get(name, f"<{name}>")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.value(variables[name]))
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, variables)
            if key == "Fn::If":
                cond, then, otherwise = arg
                return self.value(then if self.condition(cond) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.value(items))
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.refs.get(f"{name}.{attr}", f"<{name}.{attr}>")
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}
