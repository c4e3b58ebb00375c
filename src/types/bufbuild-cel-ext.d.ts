// @bufbuild/cel publishes `@bufbuild/cel/ext` through its package.json `exports`, which this project's
// `moduleResolution: node` does not read (Node itself does, at run time): its types, by their path.
declare module '@bufbuild/cel/ext' {
  export { strings } from '@bufbuild/cel/dist/cjs/ext/index';
}
