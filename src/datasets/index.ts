/** The Large Movie Review Dataset (IMDB sentiment), loaded as Keras's `imdb.load_data` loads it. */
export * as imdb from './imdb.js'
