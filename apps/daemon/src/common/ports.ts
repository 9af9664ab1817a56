// Default ports of the classic SnowFlock daemons and of the dashboard.
export const DEFAULT_MASTER_PORT = 0xf10c; // 61708, sfmd's tRPC + socket.io
export const DEFAULT_LOCAL_PORT = 0xc01f; // 49183, sfld's own listener
export const DEFAULT_WEB_PORT = 0xf10d; // 61709, SFDashBoard
