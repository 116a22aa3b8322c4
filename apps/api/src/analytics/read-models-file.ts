/** The embedded read models' file in DATA_DIR (the server writes it; the projections CLI rebuilds into it). */
export const READ_MODELS_FILE = 'read-models.sqlite';
