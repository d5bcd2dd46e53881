// Lint, part of `npm test`: typescript-eslint's strict and stylistic type-checked rules over every
// TypeScript file, each read with the tsconfig that builds it (the browser app has its own).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'clients/web/dist/', '.updraft/', 'test/artifacts/', '**/*.js', '**/*.mjs', '**/*.cjs', '**/*.mts'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers read plainly in messages ("try again in 0.6 s"); objects, nullish values and the like stay refused.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `() => resolve()` is a callback, not a value someone reads.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    // What a function imports is in its bundle, loaded at every cold start: fan-out's heavy clients stay in
    // shared/fanout/, where only the Fanout and Deliver functions reach them (shared/fanout/clients.ts).
    files: ['lambdas/**/*.ts', 'shared/**/*.ts'],
    ignores: ['shared/fanout/**', 'lambdas/fanout.ts', 'lambdas/deliver.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'undici', message: "fan-out's delivery pool: import it in shared/fanout/ only, so that no other bundle carries it" },
            { name: '@aws-sdk/client-sqs', message: "the delivery queue's client: import it in shared/fanout/ only, so that no other bundle carries it" },
          ],
        },
      ],
    },
  },
);
