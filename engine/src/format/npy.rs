//! The subset of numpy's `.npy` format the index uses: little-endian, C-order arrays.
//!
//! ```text
//! offset  size          field
//! 0       6             magic  \x93NUMPY
//! 6       1             major version (1 when written; 1, 2 and 3 are read)
//! 7       1             minor version (0)
//! 8       2 (v1) | 4    header length H, little endian
//! 10|12   H             python dict literal, space padded, ending in '\n':
//!                       {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }
//! 10+H    n*d*itemsize  the data, row major, little endian
//! ```
//!
//! Written headers are padded so the data starts at a multiple of 64 bytes: a memory
//! map (page aligned) can then be viewed as `&[T]` without copying. Readers check the
//! magic, the dtype, the order, the shape and that the file holds exactly the data
//! the shape announces (no more, no less).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use bytemuck::Pod;
use memmap2::Mmap;

use crate::error::{EngineError, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Written headers end on a multiple of this many bytes (numpy's own choice).
const HEADER_ALIGN: usize = 64;

/// The element types the index stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`
    F32,
    /// `|u1`
    U8,
    /// `|i1`
    I8,
    /// `<u2`
    U16,
    /// `<u4`
    U32,
    /// `<u8`
    U64,
    /// `<i4`
    I32,
    /// `<i8`
    I64,
}

impl Dtype {
    /// numpy's `descr` string of the type.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::U8 => "|u1",
            Dtype::I8 => "|i1",
            Dtype::U16 => "<u2",
            Dtype::U32 => "<u4",
            Dtype::U64 => "<u8",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
        }
    }

    /// Bytes an element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 => 2,
            Dtype::F32 | Dtype::U32 | Dtype::I32 => 4,
            Dtype::U64 | Dtype::I64 => 8,
        }
    }

    fn from_descr(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "<f4" => Dtype::F32,
            "|u1" | "<u1" => Dtype::U8,
            "|i1" | "<i1" => Dtype::I8,
            "<u2" => Dtype::U16,
            "<u4" => Dtype::U32,
            "<u8" => Dtype::U64,
            "<i4" => Dtype::I32,
            "<i8" => Dtype::I64,
            _ => return None,
        })
    }
}

/// A Rust type stored as one [`Dtype`].
pub trait Element: Pod {
    /// The matching numpy type.
    const DTYPE: Dtype;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => { $(impl Element for $t { const DTYPE: Dtype = Dtype::$d; })* };
}
element!(f32 => F32, u8 => U8, i8 => I8, u16 => U16, u32 => U32, u64 => U64, i32 => I32, i64 => I64);

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Byte offset of the data in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Number of elements the shape announces (None on overflow).
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
    }

    /// Number of data bytes the shape announces (None on overflow).
    pub fn data_len(&self) -> Option<usize> {
        self.num_elements()?.checked_mul(self.dtype.size())
    }
}

/// Parses the header at the start of `bytes` (the file's beginning; any length).
pub fn parse_header(bytes: &[u8]) -> std::result::Result<NpyHeader, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (len as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start + len;
    let text = bytes
        .get(start..end)
        .ok_or_else(|| "truncated .npy header".to_string())?;
    let text = std::str::from_utf8(text).map_err(|_| "non-text .npy header".to_string())?;
    let dict = parse_dict(text)?;
    let descr = dict.descr.ok_or("header lacks 'descr'")?;
    let dtype = Dtype::from_descr(&descr).ok_or_else(|| {
        format!("unsupported dtype {descr:?} (little-endian f4/u1/u2/u4/u8/i4/i8 only)")
    })?;
    if dict.fortran_order.ok_or("header lacks 'fortran_order'")? {
        return Err("Fortran-ordered arrays are not supported (save with C order)".into());
    }
    let shape = dict.shape.ok_or("header lacks 'shape'")?;
    Ok(NpyHeader {
        dtype,
        shape,
        data_offset: end,
    })
}

#[derive(Default)]
struct Dict {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// Parses the python dict literal numpy writes; unknown keys are an error.
fn parse_dict(text: &str) -> std::result::Result<Dict, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let mut dict = Dict::default();
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => dict.descr = Some(p.string()?),
            "fortran_order" => dict.fortran_order = Some(p.boolean()?),
            "shape" => dict.shape = Some(p.tuple()?),
            other => return Err(format!("unexpected header key {other:?}")),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err("trailing bytes after the header dict".into());
    }
    Ok(dict)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "malformed header: expected {:?} at byte {}",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q) if q == b'\'' || q == b'"' => q,
            _ => {
                return Err(format!(
                    "malformed header: expected a string at byte {}",
                    self.i
                ))
            }
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or("malformed header: unterminated string")?;
        self.i = start + len + 1;
        String::from_utf8(self.s[start..start + len].to_vec())
            .map_err(|_| "non-UTF-8 header".into())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        self.skip_ws();
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(value);
            }
        }
        Err(format!(
            "malformed header: expected True or False at byte {}",
            self.i
        ))
    }

    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            self.skip_ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let dim = digits
                .parse::<usize>()
                .map_err(|_| format!("malformed shape at byte {start}"))?;
            dims.push(dim);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// The header bytes of an array, padded with spaces to `total` bytes (or to the next
/// multiple of 64 when `total` is None).
pub fn header_bytes(dtype: Dtype, shape: &[usize], total: Option<usize>) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        dtype.descr(),
        shape_text
    );
    let unpadded = 10 + dict.len() + 1;
    let total = total.unwrap_or(unpadded.div_ceil(HEADER_ALIGN) * HEADER_ALIGN);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Header length of files whose number of rows is patched in at the end: room for
/// any shape, and a multiple of [`HEADER_ALIGN`].
const ROWS_HEADER_LEN: usize = 128;

/// Streams an array to a file: header first, then the data in pieces. The shape is
/// either known up front ([`NpyWriter::create`]) or all but the number of rows
/// ([`NpyWriter::create_rows`], counted as rows are written).
pub struct NpyWriter {
    path: PathBuf,
    out: BufWriter<File>,
    dtype: Dtype,
    /// `Some(row shape)` when the number of rows is counted rather than given.
    rows_of: Option<Vec<usize>>,
    expected: u64,
    written: u64,
}

impl NpyWriter {
    /// Creates `path` and writes the header of a `dtype` array of `shape`.
    pub fn create(path: &Path, dtype: Dtype, shape: &[usize]) -> Result<Self> {
        let file = File::create(path).map_err(|e| EngineError::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let header = header_bytes(dtype, shape, None);
        out.write_all(&header)
            .map_err(|e| EngineError::io(path, e))?;
        let elements: usize = shape.iter().product();
        Ok(NpyWriter {
            path: path.to_path_buf(),
            out,
            dtype,
            rows_of: None,
            expected: (elements * dtype.size()) as u64,
            written: 0,
        })
    }

    /// Creates `path` for a `dtype` array of rows of `row_shape` (`[]`: a vector)
    /// whose number is not known yet: the header is written at a fixed length and
    /// [`finish`](Self::finish) patches the row count into it.
    pub fn create_rows(path: &Path, dtype: Dtype, row_shape: &[usize]) -> Result<Self> {
        let file = File::create(path).map_err(|e| EngineError::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut shape = vec![0];
        shape.extend_from_slice(row_shape);
        out.write_all(&header_bytes(dtype, &shape, Some(ROWS_HEADER_LEN)))
            .map_err(|e| EngineError::io(path, e))?;
        Ok(NpyWriter {
            path: path.to_path_buf(),
            out,
            dtype,
            rows_of: Some(row_shape.to_vec()),
            expected: 0,
            written: 0,
        })
    }

    /// The number of whole rows written so far (of [`create_rows`](Self::create_rows);
    /// for [`create`](Self::create), the elements written).
    pub fn rows(&self) -> u64 {
        let row_bytes = match &self.rows_of {
            Some(row) => row.iter().product::<usize>() * self.dtype.size(),
            None => self.dtype.size(),
        };
        self.written / row_bytes.max(1) as u64
    }

    /// Appends elements.
    pub fn write<T: Pod>(&mut self, data: &[T]) -> Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        self.out
            .write_all(bytes)
            .map_err(|e| EngineError::io(&self.path, e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Flushes and syncs the file; fails if the data written does not fill the shape
    /// (with [`create_rows`](Self::create_rows): a whole number of rows).
    pub fn finish(mut self) -> Result<()> {
        if let Some(row) = &self.rows_of {
            let row_bytes = (row.iter().product::<usize>() * self.dtype.size()) as u64;
            if row_bytes > 0 && self.written % row_bytes != 0 {
                return Err(EngineError::InvalidConfig {
                    reason: format!(
                        "{}: {} data bytes are not a whole number of rows of {row:?}",
                        self.path.display(),
                        self.written
                    ),
                });
            }
            let mut shape = vec![self.rows() as usize];
            shape.extend_from_slice(row);
            let header = header_bytes(self.dtype, &shape, Some(ROWS_HEADER_LEN));
            let io = |e| EngineError::io(&self.path, e);
            self.out.seek(SeekFrom::Start(0)).map_err(io)?;
            self.out.write_all(&header).map_err(io)?;
            self.expected = self.written;
        }
        if self.written != self.expected {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "internal: {} got {} data bytes, its shape needs {}",
                    self.path.display(),
                    self.written,
                    self.expected
                ),
            });
        }
        let file = self
            .out
            .into_inner()
            .map_err(|e| EngineError::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| EngineError::io(&self.path, e))
    }
}

/// Writes a whole array in one go.
pub fn write_array<T: Element>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let mut w = NpyWriter::create(path, T::DTYPE, shape)?;
    w.write(data)?;
    w.finish()
}

/// Maps a file read-only. A missing file is [`EngineError::MissingFile`].
pub fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EngineError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => EngineError::io(path, e),
    })?;
    // SAFETY: the index files are immutable once renamed into place; as with every
    // memory map, a process truncating them underneath us is outside what we guard.
    unsafe { Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))
}

/// A memory-mapped `.npy` array of `T`, checked once when opened.
pub struct MappedArray<T: Element> {
    map: Mmap,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Element> MappedArray<T> {
    /// Maps `path` and checks its magic, dtype, rank and exact size. `shape` gives the
    /// expected extent of each axis (None: any).
    pub fn open(path: &Path, shape: &[Option<usize>]) -> Result<Self> {
        let map = map_file(path)?;
        let header = parse_header(&map).map_err(|r| EngineError::corrupt(path, r))?;
        check_header(&header, T::DTYPE, shape).map_err(|r| EngineError::corrupt(path, r))?;
        let data_len = header
            .data_len()
            .ok_or_else(|| EngineError::corrupt(path, "shape overflows"))?;
        let available = map.len() - header.data_offset.min(map.len());
        if available != data_len {
            return Err(EngineError::corrupt(
                path,
                format!(
                    "shape {:?} needs {data_len} data bytes, the file holds {available}",
                    header.shape
                ),
            ));
        }
        if header.data_offset % std::mem::align_of::<T>() != 0 {
            return Err(EngineError::corrupt(path, "misaligned data offset"));
        }
        Ok(MappedArray {
            len: data_len / T::DTYPE.size(),
            offset: header.data_offset,
            shape: header.shape,
            map,
            _t: PhantomData,
        })
    }

    /// The elements, row major.
    pub fn as_slice(&self) -> &[T] {
        // Alignment and size were checked in `open`, so the cast cannot fail.
        bytemuck::cast_slice(&self.map[self.offset..self.offset + self.len * T::DTYPE.size()])
    }

    /// The shape from the header.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> usize {
        self.map.len()
    }

    /// The whole file, header included (what its checksum covers).
    pub fn file_bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Checks a header's dtype and shape against what is expected.
pub fn check_header(
    header: &NpyHeader,
    dtype: Dtype,
    shape: &[Option<usize>],
) -> std::result::Result<(), String> {
    if header.dtype != dtype {
        return Err(format!(
            "dtype {} where {} is expected",
            header.dtype.descr(),
            dtype.descr()
        ));
    }
    if header.shape.len() != shape.len() {
        return Err(format!(
            "shape {:?} has rank {} where rank {} is expected",
            header.shape,
            header.shape.len(),
            shape.len()
        ));
    }
    for (axis, (&found, want)) in header.shape.iter().zip(shape).enumerate() {
        if let Some(want) = *want {
            if found != want {
                return Err(format!(
                    "shape {:?}: axis {axis} is {found} where {want} is expected",
                    header.shape
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_is_aligned() {
        for shape in [vec![], vec![0], vec![7], vec![3, 128], vec![1 << 40, 2]] {
            let bytes = header_bytes(Dtype::U16, &shape, None);
            assert_eq!(bytes.len() % HEADER_ALIGN, 0);
            let h = parse_header(&bytes).unwrap();
            assert_eq!(h.shape, shape);
            assert_eq!(h.dtype, Dtype::U16);
            assert_eq!(h.data_offset, bytes.len());
        }
    }

    #[test]
    fn fixed_size_header_keeps_its_length() {
        let bytes = header_bytes(Dtype::F32, &[123_456_789, 128], Some(128));
        assert_eq!(bytes.len(), 128);
        assert_eq!(parse_header(&bytes).unwrap().shape, vec![123_456_789, 128]);
    }

    #[test]
    fn row_writer_counts_rows_and_patches_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let mut w = NpyWriter::create_rows(&path, Dtype::F32, &[2]).unwrap();
        w.write(&[1.0f32, 2.0]).unwrap();
        w.write(&[3.0f32, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(w.rows(), 3);
        w.finish().unwrap();
        let a = MappedArray::<f32>::open(&path, &[None, Some(2)]).unwrap();
        assert_eq!(a.shape(), &[3, 2]);
        assert_eq!(a.as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

        let mut w = NpyWriter::create_rows(&path, Dtype::F32, &[2]).unwrap();
        w.write(&[1.0f32, 2.0, 3.0]).unwrap();
        assert!(w
            .finish()
            .unwrap_err()
            .to_string()
            .contains("whole number of rows"));
    }

    #[test]
    fn parses_numpy_written_headers() {
        // What numpy 1.x writes for np.save(f, np.zeros((2, 3), np.float32)).
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut text = dict.to_string();
        while (10 + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        let h = parse_header(&bytes).unwrap();
        assert_eq!((h.dtype, h.shape), (Dtype::F32, vec![2, 3]));
    }

    #[test]
    fn rejects_foreign_and_unsupported_headers() {
        assert!(parse_header(b"PK\x03\x04 not npy at all").is_err());
        assert!(parse_header(b"\x93NUMPY\x01\x00\xff\x00{").is_err());
        let big_endian = header_bytes(Dtype::F32, &[2], None)
            .iter()
            .map(|&b| if b == b'<' { b'>' } else { b })
            .collect::<Vec<_>>();
        assert!(parse_header(&big_endian).unwrap_err().contains("dtype"));
        let mut fortran = header_bytes(Dtype::F32, &[2, 2], None);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(parse_header(&fortran).unwrap_err().contains("Fortran"));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut input = b"\x93NUMPY\x01\x00".to_vec();
            input.extend_from_slice(&bytes);
            let _ = parse_header(&input);
        }

        #[test]
        fn any_shape_round_trips(shape in proptest::collection::vec(0usize..1_000_000, 0..4)) {
            let bytes = header_bytes(Dtype::I64, &shape, None);
            proptest::prop_assert_eq!(parse_header(&bytes).unwrap().shape, shape);
        }
    }
}
