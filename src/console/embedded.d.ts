// Text imports of the console's embedded assets (src/console/assets.ts).
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "htmx.org/dist/htmx.min.js" {
  const text: string;
  export default text;
}
declare module "*.svg" {
  const text: string;
  export default text;
}
declare module "*/follow.js" {
  const text: string;
  export default text;
}
