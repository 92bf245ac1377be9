// Parse an AsyncAPI document with the official parser; print every diagnostic, exit 1 on any error.
// Usage: node validate.mjs path/to/asyncapi.json
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate.mjs ASYNCAPI_FILE');
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path).parse();
const names = { 0: 'error', 1: 'warning', 2: 'information', 3: 'hint' };
for (const d of diagnostics) {
  console.log(`${names[d.severity] ?? d.severity} ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (document === undefined || errors.length > 0) {
  console.log(`INVALID: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`VALID: asyncapi ${document.version()}, ${document.channels().length} channels`);
