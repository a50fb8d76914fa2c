import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { dirname, relative, resolve } from 'node:path';

const root = import.meta.dirname;
/** Where workflow code may import values from: the SDK's workflow package and the pure modules. */
const WORKFLOW_ALLOWED_PACKAGES = ['@temporalio/workflow'];
const WORKFLOW_ALLOWED_DIRS = ['src/workflows', 'src/contract', 'src/pins'];

/**
 * An allowlist, not a denylist: a value import in src/workflows/** resolves to an allowed package or folder, or
 * it is an error (`import type` of anything is fine: it leaves nothing in the bundle).
 */
const workflowImports = {
  meta: { type: 'problem', schema: [], messages: { denied: "Workflows may import values only from {{allowed}} (use `import type` for '{{source}}')." } },
  create(context) {
    const allowed = [...WORKFLOW_ALLOWED_PACKAGES, ...WORKFLOW_ALLOWED_DIRS].join(', ');
    const check = (node, source, typeOnly) => {
      if (typeOnly || typeof source !== 'string') return;
      const ok = source.startsWith('.')
        ? WORKFLOW_ALLOWED_DIRS.some((dir) => {
            const target = relative(resolve(root, dir), resolve(dirname(context.filename), source));
            return target === '' || (!target.startsWith('..') && !target.startsWith('/'));
          })
        : WORKFLOW_ALLOWED_PACKAGES.includes(source);
      if (!ok) context.report({ node, messageId: 'denied', data: { allowed, source } });
    };
    const typeOnlySpecifiers = (node) => node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type');
    return {
      ImportDeclaration: (node) => check(node, node.source.value, node.importKind === 'type' || typeOnlySpecifiers(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, node.exportKind === 'type' || typeOnlySpecifiers(node)),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => check(node, node.source.value, false),
      'CallExpression[callee.name="require"]': (node) => check(node, node.arguments[0]?.value, false),
    };
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'scripts/**', '.ci/**', 'eslint.config.mjs', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed deterministically inside Temporal's sandbox: only pure code there.
    files: ['src/workflows/**/*.ts'],
    plugins: { pinrotate: { rules: { 'workflow-imports': workflowImports } } },
    rules: { 'pinrotate/workflow-imports': 'error' },
  },
  {
    // The contract is imported by workflows: it must stay as pure as they are.
    files: ['src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(node:|\\.\\./(?!pins/))', allowTypeImports: true, message: 'src/contract imports only @temporalio packages, src/pins and itself.' }] },
      ],
    },
  },
);
