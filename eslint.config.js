// ESLint (flat config): typescript-eslint's strict type-checked rules where they catch real bugs (floating promises,
// unsafe any, misused promises, needless conditions). Formatting is Prettier's job (`npm run format`).
import eslint from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.test-env/**', 'tmp/**', 'examples/**']},
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {project: './tsconfig.json', tsconfigRootDir: import.meta.dirname},
    },
    rules: {
      // noUncheckedIndexedAccess makes every typed-array read `T | undefined`; numeric kernels index in bounds by
      // construction, and `x[i]!` there is clearer than a branch that cannot run.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', {allowNumber: true, allowBoolean: true}],
      '@typescript-eslint/no-confusing-void-expression': ['error', {ignoreArrowShorthand: true}],
      // dockerode's and onnxruntime's types declare fields non-null that the engine and runtime do omit: the
      // defensive `?.` this rule flags are the ones that keep a missing label from crashing a command.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // fastify plugins and the interfaces services implement are async by contract, with or without an await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'max-len': [
        'error',
        {code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true},
      ],
    },
  },
  {
    // `@oclif/core`'s index loads all of oclif and semver to check the Node version: every command would pay for it
    // (issue 22). Values come from its subpaths; types may come from the index.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@oclif/core',
              allowTypeImports: true,
              message: "Import from its subpaths: '@oclif/core/flags', /args, /command, /errors, /ux, /util/ids.",
            },
          ],
        },
      ],
    },
  },
  {
    // The page of `bench --ui` runs in the browser: its own tsconfig (DOM, no Node types).
    files: ['src/bench/ui/client/**/*.ts'],
    languageOptions: {
      parserOptions: {project: './src/bench/ui/client/tsconfig.json', tsconfigRootDir: import.meta.dirname},
    },
  },
  {
    // Tests and benchmark scripts read JSON answers and YAML as `any` on purpose: the assertion that follows is the
    // type check.
    files: ['**/*.test.ts', '**/test-support/**', 'scripts/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/restrict-plus-operands': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {...tseslint.configs.disableTypeChecked.languageOptions, globals: {...globals.node}},
  },
)
