/** CSS imported for its side effect: esbuild gathers it into app.css. */
declare module '*.css';
