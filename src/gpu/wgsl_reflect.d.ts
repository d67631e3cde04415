// wgsl_reflect's package "main" is a CommonJS file inside a "type": "module" package, so Node cannot
// import the bare name; we import its ES module build and give that path the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
