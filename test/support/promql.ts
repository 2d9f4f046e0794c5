import { parser } from '@prometheus-io/lezer-promql';

/**
 * The metric names a PromQL expression selects, read with Prometheus' own PromQL grammar (the parser of
 * its web UI): `foo{...}`, `foo[5m]` and `{__name__="foo"}`. Names in strings (label values) or in
 * label names are not metric names and are not returned. Throws on an expression the grammar refuses.
 */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  let error: number | undefined;
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier) names.add(expr.slice(identifier.from, identifier.to));
      // {__name__="foo"}: only an exact match names one metric; a regex matches names nobody wrote.
      for (const matcher of node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = matcher.getChild('LabelName');
        const op = matcher.getChild('MatchOp');
        const value = matcher.getChild('StringLiteral');
        if (!label || !op || !value || expr.slice(label.from, label.to) !== '__name__') continue;
        if (expr.slice(op.from, op.to) === '=') names.add(JSON.parse(expr.slice(value.from, value.to)) as string);
      }
    },
  });
  if (error !== undefined) throw new Error(`PromQL does not parse at ${error}: ${expr}`);
  return [...names].sort();
}
