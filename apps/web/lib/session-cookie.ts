// The session cookie's name, shared by the proxy (which only checks it is there) and the server code.
export const SESSION_COOKIE = 'sf_admin';
