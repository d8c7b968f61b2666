// ESM entry: the same objects as the CommonJS entry.
import api from './index.js'

export const { connect, Socket, SocketError } = api
export default api
