import { parser } from '@prometheus-io/lezer-promql';

/** One label matcher of a selector: `label op "value"`. */
export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** One series selector: `name{matchers}`, the name undefined for `{__name__=~"..."}` and the like. */
export interface Selector {
  name: string | undefined;
  matchers: LabelMatcher[];
}

/**
 * The series selectors of a PromQL expression, read with Prometheus' own PromQL grammar (the parser of
 * its web UI): `foo{...}`, `foo[5m]` and `{__name__="foo"}` (a name given by an exact `__name__` matcher
 * becomes the selector's name). Throws on an expression the grammar refuses.
 */
export function selectorsIn(expr: string): Selector[] {
  const selectors: Selector[] = [];
  let error: number | undefined;
  const text = (node: { from: number; to: number }) => expr.slice(node.from, node.to);
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      const selector: Selector = { name: identifier ? text(identifier) : undefined, matchers: [] };
      for (const matcher of node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const [label, op, value] = [
          matcher.getChild('LabelName'),
          matcher.getChild('MatchOp'),
          matcher.getChild('StringLiteral'),
        ];
        if (!label || !op || !value) continue;
        const parsed = {
          label: text(label),
          op: text(op) as LabelMatcher['op'],
          value: JSON.parse(text(value)) as string,
        };
        if (parsed.label === '__name__' && parsed.op === '=') selector.name = parsed.value;
        else selector.matchers.push(parsed);
      }
      selectors.push(selector);
    },
  });
  if (error !== undefined) throw new Error(`PromQL does not parse at ${error}: ${expr}`);
  return selectors;
}

/** The metric names an expression selects (see selectorsIn), sorted, each once. */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(selectorsIn(expr).flatMap((selector) => selector.name ?? []))].sort();
}
