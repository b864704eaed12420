/** The shipped analysis templates (analysis-templates/*.yaml), read and validated as the chart installs them. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ClusterAnalysisTemplate } from '../../src/api/analysis-template.js';
import { describeIssues, parseClusterAnalysisTemplate } from '../../src/api/validation.js';
import type { TemplateCatalog } from '../../src/analysis/resolve.js';

export const TEMPLATES_DIR = path.resolve(import.meta.dirname, '../../analysis-templates');

export interface TemplateFile {
  file: string;
  template: ClusterAnalysisTemplate;
}

/** Every template document; a document the API would reject throws with its file and field paths. */
export function loadTemplates(): TemplateFile[] {
  const files = readdirSync(TEMPLATES_DIR).filter((f) => /\.ya?ml$/.test(f));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(TEMPLATES_DIR, file), 'utf8')).map((doc) => {
      const parsed = parseClusterAnalysisTemplate(doc.toJS());
      if (!parsed.ok) throw new Error(`${file}: ${describeIssues(parsed.issues)}`);
      return { file, template: parsed.value };
    }),
  );
}

export function templateCatalog(): TemplateCatalog {
  return {
    namespaced: new Map(),
    cluster: new Map(loadTemplates().map(({ template }) => [template.metadata.name, template.spec])),
  };
}
