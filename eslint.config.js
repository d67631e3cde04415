// ESLint over the TypeScript sources and scripts (`npm run lint`): the recommended rules of ESLint
// and typescript-eslint, without type information (fast; tsc already checks the types and names).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'web/dist/**', 'node_modules/**', 'models/**', 'runs/**', 'src/gpu/shaders.gen.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // Kernel<any> and the like: launchers are generic over their parameter records.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // tsc resolves every name in TypeScript (with the right lib per file); ESLint's guess would not.
  { files: ['**/*.ts'], rules: { 'no-undef': 'off' } },
  // Scripts that drive the page run some functions inside the browser.
  { files: ['scripts/web-*.mjs'], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
);
