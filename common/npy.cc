#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// Deepest nesting of tuples/lists accepted in a header (real headers use 1;
// structured dtypes 2-3). Bounds recursion on hostile input.
constexpr int kMaxHeaderNesting = 8;

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(absl::StrCat("npy: ", what)); }

// A value of the tiny subset of Python literals that .npy headers use.
struct PyValue {
  enum class Kind { kString, kBool, kInt, kSequence, kNone };
  Kind kind = Kind::kNone;
  std::string text;  // kString
  bool boolean = false;
  int64_t integer = 0;
  bool integer_overflowed = false;
  std::vector<PyValue> items;  // kSequence (tuple or list)
};

// Recursive-descent parser over the header text (a Python dict literal).
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::Status ParseDict(std::vector<std::pair<std::string, PyValue>>& entries) {
    SkipSpace();
    if (!Consume('{')) return Invalid("header is not a Python dict (missing '{')");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      PyValue key;
      if (absl::Status s = ParseValue(key, 0); !s.ok()) return s;
      if (key.kind != PyValue::Kind::kString) return Invalid("header dict key is not a string");
      SkipSpace();
      if (!Consume(':')) return Invalid(absl::StrCat("header: expected ':' after key '", key.text, "'"));
      PyValue value;
      if (absl::Status s = ParseValue(value, 0); !s.ok()) return s;
      entries.emplace_back(key.text, std::move(value));
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Invalid("header: expected ',' or '}' in dict");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Invalid("header: unexpected text after the dict");
    return absl::OkStatus();
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\0')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  absl::Status ParseValue(PyValue& out, int depth) {
    if (depth > kMaxHeaderNesting) return Invalid("header nests too deeply");
    SkipSpace();
    if (pos_ >= text_.size()) return Invalid("header ends in the middle of a value");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      ++pos_;
      const size_t end = text_.find(c, pos_);
      if (end == absl::string_view::npos) return Invalid("header has an unterminated string");
      out.kind = PyValue::Kind::kString;
      out.text = std::string(text_.substr(pos_, end - pos_));
      pos_ = end + 1;
      return absl::OkStatus();
    }
    if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      out.kind = PyValue::Kind::kSequence;
      while (true) {
        SkipSpace();
        if (Consume(close)) return absl::OkStatus();
        PyValue item;
        if (absl::Status s = ParseValue(item, depth + 1); !s.ok()) return s;
        out.items.push_back(std::move(item));
        SkipSpace();
        if (Consume(',')) continue;
        SkipSpace();
        if (Consume(close)) return absl::OkStatus();
        return Invalid(absl::StrCat("header: expected ',' or '", std::string(1, close), "' in a sequence"));
      }
    }
    if (ConsumeWord("True")) {
      out.kind = PyValue::Kind::kBool;
      out.boolean = true;
      return absl::OkStatus();
    }
    if (ConsumeWord("False")) {
      out.kind = PyValue::Kind::kBool;
      out.boolean = false;
      return absl::OkStatus();
    }
    if (ConsumeWord("None")) {
      out.kind = PyValue::Kind::kNone;
      return absl::OkStatus();
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const bool negative = Consume('-');
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
        return Invalid("header has a malformed integer");
      }
      out.kind = PyValue::Kind::kInt;
      int64_t value = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        const int digit = text_[pos_] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) out.integer_overflowed = true;
        if (!out.integer_overflowed) value = value * 10 + digit;
        ++pos_;
      }
      Consume('L');  // Python 2 long suffix, written by old numpy.
      out.integer = negative ? -value : value;
      return absl::OkStatus();
    }
    return Invalid(absl::StrCat("header has an unexpected character '", std::string(1, c), "'"));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// Maps a descriptor such as "<f4" to a DataType.
absl::StatusOr<DataType> ParseDescriptor(const std::string& descr) {
  if (descr.empty()) return Invalid("empty dtype descriptor");
  char order = '=';
  absl::string_view code = descr;
  if (descr[0] == '<' || descr[0] == '>' || descr[0] == '=' || descr[0] == '|') {
    order = descr[0];
    code.remove_prefix(1);
  }
  DataType type = DataType::kUndefined;
  if (code == "f4") type = DataType::kFloat32;
  else if (code == "f8") type = DataType::kFloat64;
  else if (code == "i8") type = DataType::kInt64;
  else if (code == "i4") type = DataType::kInt32;
  else if (code == "b1" || code == "?") type = DataType::kBool;
  else if (code == "u1" || code == "B") type = DataType::kUint8;
  else if (code == "i1" || code == "b") type = DataType::kInt8;
  if (type == DataType::kUndefined) {
    return Invalid(absl::StrCat("unsupported dtype '", descr,
                                "' (supported: <f4, <f8, <i8, <i4, |b1, |u1, |i1)"));
  }
  const bool multi_byte = DataTypeSize(type) > 1;
  if (multi_byte && order == '>') {
    return Invalid(absl::StrCat("big-endian data ('", descr, "') is not supported; save it little-endian"));
  }
  if (multi_byte && order == '|') return Invalid(absl::StrCat("unsupported dtype '", descr, "'"));
  return type;
}

uint32_t ReadLittleEndian(absl::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

std::string ShapeTuple(const Shape& shape) {
  if (shape.empty()) return "()";
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

}  // namespace

absl::string_view NpyDescriptor(DataType type) {
  switch (type) {
    case DataType::kFloat32: return "<f4";
    case DataType::kFloat64: return "<f8";
    case DataType::kInt64: return "<i8";
    case DataType::kInt32: return "<i4";
    case DataType::kBool: return "|b1";
    case DataType::kUint8: return "|u1";
    case DataType::kInt8: return "|i1";
    case DataType::kUndefined: break;
  }
  return "";
}

absl::StatusOr<Tensor> ReadNpy(absl::string_view bytes) {
  if (bytes.size() < kMagicSize || bytes.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return Invalid("bad magic: not a .npy file (expected \\x93NUMPY)");
  }
  if (bytes.size() < kMagicSize + 2) return Invalid("truncated header: no format version");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  size_t length_width = 0;
  if (major == 1) length_width = 2;
  else if (major == 2 || major == 3) length_width = 4;
  else return Invalid(absl::StrCat("unsupported format version ", major, ".", minor));
  const size_t preamble = kMagicSize + 2 + length_width;
  if (bytes.size() < preamble) return Invalid("truncated header: no header length");
  const size_t header_length = ReadLittleEndian(bytes, kMagicSize + 2, length_width);
  if (bytes.size() - preamble < header_length) {
    return Invalid(absl::StrCat("truncated header: header declares ", header_length, " bytes, file has ",
                                bytes.size() - preamble));
  }
  const absl::string_view header = bytes.substr(preamble, header_length);
  const absl::string_view data = bytes.substr(preamble + header_length);

  std::vector<std::pair<std::string, PyValue>> entries;
  if (absl::Status s = HeaderParser(header).ParseDict(entries); !s.ok()) return s;
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape_value = nullptr;
  for (const auto& [key, value] : entries) {
    if (key == "descr") descr = &value;
    else if (key == "fortran_order") fortran = &value;
    else if (key == "shape") shape_value = &value;
  }
  if (descr == nullptr || fortran == nullptr || shape_value == nullptr) {
    return Invalid("header lacks one of the keys 'descr', 'fortran_order', 'shape'");
  }
  if (descr->kind == PyValue::Kind::kSequence) return Invalid("unsupported dtype: structured (record) dtypes");
  if (descr->kind != PyValue::Kind::kString) return Invalid("header 'descr' is not a string");
  if (fortran->kind != PyValue::Kind::kBool) return Invalid("header 'fortran_order' is not True/False");
  if (fortran->boolean) return Invalid("fortran_order True (column-major data) is not supported; save in C order");
  if (shape_value->kind != PyValue::Kind::kSequence) return Invalid("header 'shape' is not a tuple");

  absl::StatusOr<DataType> type = ParseDescriptor(descr->text);
  if (!type.ok()) return type.status();

  Shape shape;
  int64_t elements = 1;
  bool overflow = false;
  for (const PyValue& dim : shape_value->items) {
    if (dim.kind != PyValue::Kind::kInt) return Invalid("header 'shape' holds a non-integer");
    if (dim.integer_overflowed) return Invalid("shape has a dimension that overflows int64");
    if (dim.integer < 0) return Invalid(absl::StrCat("shape has a negative dimension ", dim.integer));
    shape.push_back(dim.integer);
  }
  for (int64_t d : shape) {
    if (d != 0 && elements > std::numeric_limits<int64_t>::max() / d) overflow = true;
    if (!overflow) elements *= d;
  }
  const int64_t element_size = static_cast<int64_t>(DataTypeSize(*type));
  if (overflow || elements > std::numeric_limits<int64_t>::max() / element_size) {
    return Invalid(absl::StrCat("shape ", ShapeToString(shape), " overflows int64"));
  }
  const uint64_t expected = static_cast<uint64_t>(elements * element_size);
  if (data.size() < expected) {
    return Invalid(absl::StrCat("truncated data: shape ", ShapeToString(shape), " of ", DataTypeName(*type),
                                " needs ", expected, " bytes, file has ", data.size()));
  }
  if (data.size() > expected) {
    return Invalid(absl::StrCat("data size mismatch: shape ", ShapeToString(shape), " of ",
                                DataTypeName(*type), " needs ", expected, " bytes, file has ", data.size()));
  }
  Tensor tensor = Tensor::Allocate(*type, std::move(shape));
  if (expected > 0) std::memcpy(tensor.raw_data(), data.data(), expected);
  if (*type == DataType::kBool) {
    uint8_t* values = static_cast<uint8_t*>(tensor.raw_data());
    for (int64_t i = 0; i < elements; ++i) values[i] = values[i] != 0 ? 1 : 0;
  }
  return tensor;
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  absl::StatusOr<Tensor> tensor = ReadNpy(bytes);
  if (!tensor.ok()) {
    return absl::Status(tensor.status().code(), absl::StrCat(path, ": ", tensor.status().message()));
  }
  return tensor;
}

std::string WriteNpy(const Tensor& tensor) {
  std::string header = absl::StrCat("{'descr': '", NpyDescriptor(tensor.dtype()),
                                    "', 'fortran_order': False, 'shape': ", ShapeTuple(tensor.shape()), ", }");
  // Pad with spaces and a final newline so that magic + version + length +
  // header is a multiple of 64 bytes.
  int major = 1;
  size_t preamble = kMagicSize + 2 + 2;
  size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  if (total - preamble > std::numeric_limits<uint16_t>::max()) {
    major = 2;
    preamble = kMagicSize + 2 + 4;
    total = (preamble + header.size() + 1 + 63) / 64 * 64;
  }
  header.append(total - preamble - header.size() - 1, ' ');
  header.push_back('\n');

  std::string out(kMagic, kMagicSize);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t length = header.size();
  for (size_t i = 0; i < preamble - kMagicSize - 2; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out += header;
  if (tensor.byte_size() > 0) out.append(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  return out;
}

absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor) {
  if (NpyDescriptor(tensor.dtype()).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write ", path, ": tensor is undefined"));
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, " for writing"));
  const std::string bytes = WriteNpy(tensor);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return absl::DataLossError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

}  // namespace tessera
