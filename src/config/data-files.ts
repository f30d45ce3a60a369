/** Files the server keeps in its data directory, named once for the server and the command line. */
export const ADMIN_TOKEN_FILE = 'admin.token';
