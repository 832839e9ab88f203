// Minimal NumPy .npy reader/writer for the benchmark (Node.js, no deps).
//
// Reads format 1.0/2.0/3.0, little-endian, C order, dtypes <f4 <f8 <i8 <i4
// |b1 |u1 |i1 (the same set as Tessera's common/npy.h); throws an Error naming
// the problem otherwise. Writes format 1.0 with the header padded to 64 bytes.
'use strict';

const fs = require('fs');

const DTYPES = {
  // descr code -> [typed array constructor, onnxruntime tensor type]
  f4: [Float32Array, 'float32'],
  f8: [Float64Array, 'float64'],
  i8: [BigInt64Array, 'int64'],
  i4: [Int32Array, 'int32'],
  b1: [Uint8Array, 'bool'],
  u1: [Uint8Array, 'uint8'],
  i1: [Int8Array, 'int8'],
};
const DESCR_OF_TYPE = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', bool: '|b1', uint8: '|u1', int8: '|i1',
};

function parseHeader(text) {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new Error(`npy: malformed header ${JSON.stringify(text)}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    if (!/^\d+L?$/.test(s)) throw new Error(`npy: bad dimension '${s}'`);
    return Number.parseInt(s, 10);
  });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

// Returns {type, shape, data} where type is an onnxruntime tensor type name
// and data a typed array (copied, so it is properly aligned).
function readNpy(buffer) {
  if (buffer.length < 10 || buffer[0] !== 0x93 || buffer.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error('npy: bad magic');
  }
  const major = buffer[6];
  let headerLength;
  let offset;
  if (major === 1) {
    headerLength = buffer.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buffer.length < 12) throw new Error('npy: truncated header');
    headerLength = buffer.readUInt32LE(8);
    offset = 12;
  } else {
    throw new Error(`npy: unsupported format version ${major}`);
  }
  if (offset + headerLength > buffer.length) throw new Error('npy: truncated header');
  const header = parseHeader(buffer.toString('latin1', offset, offset + headerLength));
  if (header.fortranOrder) throw new Error('npy: fortran_order True is not supported');
  const order = header.descr[0];
  const code = '<>|='.includes(order) ? header.descr.slice(1) : header.descr;
  const entry = DTYPES[code];
  if (!entry) throw new Error(`npy: unsupported dtype '${header.descr}'`);
  const [ArrayType, type] = entry;
  if (order === '>' && ArrayType.BYTES_PER_ELEMENT > 1) throw new Error(`npy: big-endian '${header.descr}'`);
  const count = header.shape.reduce((a, b) => a * b, 1);
  const dataStart = offset + headerLength;
  const expected = count * ArrayType.BYTES_PER_ELEMENT;
  if (buffer.length - dataStart !== expected) {
    throw new Error(`npy: data size mismatch: expected ${expected} bytes, file has ${buffer.length - dataStart}`);
  }
  const bytes = new Uint8Array(expected);
  buffer.copy(bytes, 0, dataStart, dataStart + expected);
  return { type, shape: header.shape, data: new ArrayType(bytes.buffer) };
}

function writeNpy(type, shape, data) {
  const descr = DESCR_OF_TYPE[type];
  if (!descr) throw new Error(`npy: cannot write tensor type ${type}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const preamble = Buffer.alloc(10);
  preamble[0] = 0x93;
  preamble.write('NUMPY', 1, 'latin1');
  preamble[6] = 1;
  preamble[7] = 0;
  preamble.writeUInt16LE(header.length, 8);
  let body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === 'bool' && !(data instanceof Uint8Array)) body = Buffer.from(Array.from(data, (v) => (v ? 1 : 0)));
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), body]);
}

module.exports = {
  readNpy,
  writeNpy,
  readNpyFile: (path) => readNpy(fs.readFileSync(path)),
  writeNpyFile: (path, type, shape, data) => fs.writeFileSync(path, writeNpy(type, shape, data)),
};
