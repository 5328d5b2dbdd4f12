/** The composition root: config → store, skills, models, agents → runtime. */
export { createApp } from './create-app.js';
export type { App, CreateAppOptions } from './create-app.js';
